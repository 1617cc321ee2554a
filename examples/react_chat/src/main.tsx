import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { TokenwireClient, type TransportName } from "tokenwire-web/client";
import { Chat } from "./Chat";

// ?server=<tokenwire base URL> (default: this page's origin), ?model=<id>, ?transport=<name>.
const query = new URLSearchParams(location.search);
// One client for the page's lifetime; leaving the page stops reading, not generating (the server
// keeps and stores the answer).
const client = new TokenwireClient({
  baseUrl: query.get("server") ?? "",
  transport: (query.get("transport") as TransportName | null) ?? undefined,
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Chat client={client} model={query.get("model") ?? undefined} />
  </StrictMode>,
);
