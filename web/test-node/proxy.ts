/** A loopback TCP proxy whose `cut()` resets every open connection, as when a network drops. */

import { connect, createServer, type Server, type Socket } from "node:net";

export class CuttableProxy {
  private readonly server: Server;
  private sockets: Socket[] = [];
  url = "";

  private constructor(targetPort: number) {
    this.server = createServer((client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      this.sockets.push(client, upstream);
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.pipe(b);
        a.on("error", () => b.destroy());
        a.on("close", () => b.destroy());
      }
    });
  }

  static async start(target: string): Promise<CuttableProxy> {
    const proxy = new CuttableProxy(Number(new URL(target).port));
    await new Promise<void>((done) => proxy.server.listen(0, "127.0.0.1", done));
    const address = proxy.server.address();
    proxy.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    return proxy;
  }

  /** Reset every connection open now; returns how many client connections were cut. */
  cut(): number {
    const open = this.sockets.filter((s) => !s.destroyed);
    this.sockets = [];
    for (const socket of open) socket.resetAndDestroy();
    return open.length / 2;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((done) => this.server.close(() => done()));
  }
}
