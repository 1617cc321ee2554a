/** The conversation list: open, delete, and the active one highlighted. */

import type { ConversationSummary } from "../client/index.js";
import { h } from "./dom.js";

export interface SidebarActions {
  open(id: string): void;
  remove(id: string): void;
}

export class Sidebar {
  constructor(
    private readonly list: HTMLUListElement,
    private readonly actions: SidebarActions,
  ) {}

  /** Highlight the open conversation at once, before the list is fetched again. */
  markActive(id: string | undefined): void {
    for (const li of Array.from(this.list.children)) {
      li.classList.toggle("active", (li as HTMLElement).dataset.id === id);
    }
  }

  show(conversations: ConversationSummary[], activeId: string | undefined): void {
    this.list.replaceChildren(
      ...conversations.map((c) => {
        const open = h("a", { href: `#/c/${encodeURIComponent(c.id)}`, class: "open" },
          c.title || "Untitled");
        const remove = h("button", { type: "button", class: "delete", title: "Delete conversation",
          "aria-label": `Delete ${c.title || "conversation"}` }, "×");
        remove.addEventListener("click", () => this.actions.remove(c.id));
        open.addEventListener("click", (e) => {
          e.preventDefault();
          this.actions.open(c.id);
        });
        return h("li", { "data-id": c.id, class: c.id === activeId ? "active" : "" }, open, remove);
      }),
    );
  }
}
