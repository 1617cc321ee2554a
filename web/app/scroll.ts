/** Keep a scroll container at the bottom while content grows, unless the reader scrolled up. */

export class StickToBottom {
  private pinned = true;
  /** Where we last scrolled to ourselves: a scroll event landing there is ours, not the reader's. */
  private ours = -1;

  constructor(private readonly el: HTMLElement) {
    el.addEventListener(
      "scroll",
      () => {
        if (Math.abs(el.scrollTop - this.ours) < 2) return;
        this.pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
      },
      { passive: true },
    );
  }

  /** After content changed: follow it if the reader was at the bottom. */
  follow(): void {
    if (!this.pinned) return;
    this.el.scrollTop = this.el.scrollHeight;
    this.ours = this.el.scrollTop;
  }

  /** Jump to the bottom and stick there (a new question, an opened conversation). */
  pin(): void {
    this.pinned = true;
    this.follow();
  }
}
