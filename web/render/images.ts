/** Remote images in an answer are buttons (nothing is fetched); one loads when the reader asks. */

/**
 * Turn a click on a `button.tw-image` under `root` into its image, fetched without a referrer.
 * Returns a function that stops listening.
 */
export function loadImagesOnClick(root: Element): () => void {
  const onClick = (event: Event): void => {
    const button = (event.target as Element | null)?.closest?.("button.tw-image");
    if (!button || !root.contains(button)) return;
    const src = button.getAttribute("data-src") ?? "";
    if (!/^https?:/i.test(src)) return;
    const img = button.ownerDocument.createElement("img");
    img.setAttribute("referrerpolicy", "no-referrer");
    img.setAttribute("alt", button.getAttribute("data-alt") ?? "");
    img.setAttribute("src", src);
    button.replaceWith(img);
  };
  root.addEventListener("click", onClick);
  return () => root.removeEventListener("click", onClick);
}
