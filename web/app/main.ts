/** The chat app: wires the client, the renderer and the page together. */

import "./styles.css";

import {
  type ChatStream,
  type StoredMessage,
  TokenwireClient,
  TokenwireError,
  type TransportName,
} from "../client/index.js";
import { loadImagesOnClick } from "../render/index.js";
import { AnswerView } from "./answer.js";
import { byId, h } from "./dom.js";
import { showHistory, showStoredStream } from "./history.js";
import { StickToBottom } from "./scroll.js";
import { Sidebar } from "./sidebar.js";

const TRANSPORTS: TransportName[] = ["websocket", "sse", "ndjson", "eventsource", "qwebchannel"];

class App {
  // `?transport=sse` picks another transport, for diagnosis; by default WebSocket (in a browser)
  // or the QWebChannel bridge (in the desktop window).
  private readonly client = new TokenwireClient(transportOption());
  private readonly thread = byId<HTMLDivElement>("thread");
  private readonly input = byId<HTMLTextAreaElement>("input");
  private readonly send = byId<HTMLButtonElement>("send");
  private readonly stop = byId<HTMLButtonElement>("stop");
  private readonly model = byId<HTMLSelectElement>("model");
  private readonly notice = byId<HTMLSpanElement>("notice");
  private readonly scroll = new StickToBottom(this.thread);
  private readonly sidebar: Sidebar;
  private conversationId: string | undefined;
  private lastPrompt: string | undefined;
  private active: { stream: ChatStream; view: AnswerView; stopRequested: boolean } | null = null;
  private lastView: AnswerView | null = null;
  private opening = 0;

  constructor() {
    this.sidebar = new Sidebar(byId("conversations"), {
      open: (id) => void this.open(id),
      remove: (id) => void this.remove(id),
    });
    byId("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      // Enter sends; Shift+Enter breaks the line; Enter that ends an IME composition does neither.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.stop.addEventListener("click", () => void this.stopAnswer());
    byId("new-chat").addEventListener("click", () => this.newChat());
    byId("menu").addEventListener("click", () => document.body.classList.toggle("show-sidebar"));
    loadImagesOnClick(this.thread); // remote images load only when the reader asks
    window.addEventListener("hashchange", () => void this.route());
    byId("login").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.signIn();
    });
  }

  /** The server wants a token: trade it for its HttpOnly cookie, which every transport carries. */
  private async signIn(): Promise<void> {
    const input = byId<HTMLInputElement>("token");
    try {
      await this.client.login(input.value.trim());
    } catch (error) {
      this.say(`Sign-in failed: ${describe(error)}`);
      return;
    }
    input.value = "";
    byId("login").hidden = true;
    this.conversationId = undefined;
    await this.start();
  }

  private needsSignIn(error: unknown): boolean {
    if (error instanceof TokenwireError && error.status === 401) {
      byId("login").hidden = false;
      byId<HTMLInputElement>("token").focus();
      return true;
    }
    return false;
  }

  async start(): Promise<void> {
    await Promise.all([this.loadModels(), this.refreshList()]);
    await this.route();
  }

  private async route(): Promise<void> {
    const match = /^#\/c\/(.+)$/.exec(location.hash);
    const id = match ? decodeURIComponent(match[1]!) : undefined;
    if (id === this.conversationId) return;
    if (id) await this.open(id);
    else this.newChat();
  }

  private async loadModels(): Promise<void> {
    try {
      const models = await this.client.models();
      this.model.replaceChildren(
        ...models.map((m) => h("option", { value: m.id, selected: m.default }, m.id)),
      );
    } catch (error) {
      if (!this.needsSignIn(error)) this.say(`Could not load the models: ${describe(error)}`);
    }
  }

  private async refreshList(): Promise<void> {
    try {
      this.sidebar.show(await this.client.conversations(), this.conversationId);
    } catch (error) {
      if (!this.needsSignIn(error)) this.say(`Could not load the conversations: ${describe(error)}`);
    }
  }

  private newChat(): void {
    this.detach();
    this.conversationId = undefined;
    this.lastPrompt = undefined;
    this.lastView = null;
    this.thread.replaceChildren(h("p", { class: "empty" }, "Ask anything. Enter sends, Shift+Enter starts a new line."));
    if (location.hash) history.pushState(null, "", location.pathname + location.search);
    document.body.classList.remove("show-sidebar");
    void this.refreshList();
    this.input.focus();
  }

  private async open(id: string): Promise<void> {
    const ticket = ++this.opening;
    this.detach();
    document.body.classList.remove("show-sidebar");
    let conversation;
    try {
      conversation = await this.client.conversation(id);
    } catch (error) {
      this.say(`Could not open the conversation: ${describe(error)}`);
      return;
    }
    if (ticket !== this.opening) return;
    this.conversationId = conversation.id;
    this.sidebar.markActive(conversation.id);
    if (location.hash !== `#/c/${encodeURIComponent(id)}`) location.hash = `#/c/${encodeURIComponent(id)}`;
    this.thread.replaceChildren();
    this.lastView = null;
    showHistory(conversation.messages, {
      user: (message) => {
        this.lastPrompt = message.content;
        this.thread.append(userBubble(message.content));
      },
      newAnswer: () => this.newAnswer(),
      follow: (streamId, view, stored) => this.follow(this.client.resume(streamId, 0), view, stored),
    });
    void this.refreshList();
    this.scroll.pin();
  }

  private newAnswer(): AnswerView {
    this.lastView?.dropActions();
    const view = new AnswerView(() => this.scroll.follow(), {
      regenerate: () => this.regenerate(),
      retry: (v) => this.retry(v),
    });
    this.thread.append(view.el);
    this.lastView = view;
    return view;
  }

  private submit(): void {
    const text = this.input.value;
    if (!text.trim() || this.active) return;
    this.input.value = "";
    this.autosize();
    this.ask(text);
  }

  private ask(text: string): void {
    this.thread.querySelector(".empty")?.remove();
    this.lastPrompt = text;
    this.thread.append(userBubble(text));
    const view = this.newAnswer();
    const request = {
      message: text,
      ...(this.conversationId ? { conversation_id: this.conversationId } : {}),
      ...(this.model.value ? { model: this.model.value } : {}),
    };
    this.scroll.pin();
    this.follow(this.client.chat(request), view);
  }

  private regenerate(): void {
    if (this.lastPrompt !== undefined && !this.active) this.ask(this.lastPrompt);
  }

  private retry(view: AnswerView): void {
    const streamId = view.el.dataset.streamId;
    if (view.el.dataset.state === "failed" && streamId && !this.active) {
      view.reset();
      view.el.dataset.state = "streaming";
      this.follow(this.client.resume(streamId, 0), view);
    } else {
      this.regenerate();
    }
  }

  /** `stored`: what the server had stored of this stream, shown if the stream has expired. */
  private follow(stream: ChatStream, view: AnswerView, stored?: StoredMessage[]): void {
    const active = { stream, view, stopRequested: false };
    view.beginStream();
    this.active = active;
    this.setBusy(true);
    stream.on({
      onEvent: (event) => {
        if (event.type === "start") {
          view.el.dataset.streamId = event.stream_id;
          if (active.stopRequested) void this.client.cancel(event.stream_id);
          if (!this.conversationId && event.conversation_id) {
            this.conversationId = event.conversation_id;
            history.replaceState(null, "", `#/c/${encodeURIComponent(event.conversation_id)}`);
            void this.refreshList();
          }
        }
        if (this.active === active) view.handle(event);
      },
      onStatus: (status) => {
        if (this.active === active) view.status(status);
        // Which transport carried the answer, for diagnosis (and the desktop window's tests).
        if (status.state === "streaming") document.body.dataset.transport = this.client.transport.name;
        if (status.state === "failed") this.needsSignIn(status.error);
        if (status.state === "failed" && stored && status.error.code === "stream_not_found") {
          showStoredStream(view, stored);
        }
      },
    });
    void stream.finished
      .catch(() => undefined)
      .finally(() => {
        if (this.active !== active) return;
        this.active = null;
        this.setBusy(false);
        void this.refreshList();
      });
  }

  private async stopAnswer(): Promise<void> {
    const active = this.active;
    if (!active) return;
    active.stopRequested = true;
    const id = active.stream.streamId;
    if (id) {
      try {
        await this.client.cancel(id);
      } catch (error) {
        this.say(`Could not stop the answer: ${describe(error)}`);
      }
    }
  }

  /** Stop reading the current stream (the answer goes on, stored, on the server). */
  private detach(): void {
    if (!this.active) return;
    this.active.stream.abort();
    this.active = null;
    this.setBusy(false);
  }

  private async remove(id: string): Promise<void> {
    try {
      await this.client.deleteConversation(id);
    } catch (error) {
      this.say(`Could not delete the conversation: ${describe(error)}`);
    }
    if (id === this.conversationId) this.newChat();
    else void this.refreshList();
  }

  private setBusy(busy: boolean): void {
    this.send.hidden = busy;
    this.stop.hidden = !busy;
    document.body.classList.toggle("streaming", busy);
  }

  private autosize(): void {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 240)}px`;
  }

  private say(text: string): void {
    this.notice.textContent = text;
    setTimeout(() => {
      if (this.notice.textContent === text) this.notice.textContent = "";
    }, 8000);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function userBubble(text: string): HTMLElement {
  return h("article", { class: "message user" }, h("div", { class: "bubble" }, text));
}

function transportOption(): { transport?: TransportName } {
  const wanted = new URLSearchParams(location.search).get("transport");
  return TRANSPORTS.includes(wanted as TransportName) ? { transport: wanted as TransportName } : {};
}

void new App().start();
