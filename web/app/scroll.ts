/** Keep a scroll container at the bottom while content grows, unless the reader scrolled up. */

export class StickToBottom {
  private pinned = true;

  constructor(private readonly el: HTMLElement) {
    el.addEventListener("scroll", () => {
      this.pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    }, { passive: true });
  }

  /** After content changed: follow it if the reader was at the bottom. */
  follow(): void {
    if (this.pinned) this.el.scrollTop = this.el.scrollHeight;
  }

  /** Jump to the bottom and stick there (a new question, an opened conversation). */
  pin(): void {
    this.pinned = true;
    this.el.scrollTop = this.el.scrollHeight;
  }
}
