/**
 * A TCP proxy on loopback that a test can cut and restore, to take PostgreSQL (or anything else) away
 * from the engine without stopping the server that other test files share. While cut, existing
 * connections are reset and new ones refused — what a client sees when the server is stopped.
 */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Holds each new connection this long before it reaches the target: a server slow to accept. */
  acceptDelayMs: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let port = 0;
  let server: net.Server;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        sockets.add(client);
        const connect = () => {
          if (client.destroyed) return;
          const upstream = net.connect(targetPort, targetHost);
          sockets.add(upstream);
          client.pipe(upstream).pipe(client);
          const done = () => {
            client.destroy();
            upstream.destroy();
            sockets.delete(client);
            sockets.delete(upstream);
          };
          client.on('close', done);
          upstream.on('error', done).on('close', done);
        };
        client.on('error', () => client.destroy());
        client.on('close', () => sockets.delete(client));
        if (proxy.acceptDelayMs > 0) setTimeout(connect, proxy.acceptDelayMs);
        else connect();
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
      server.close(() => resolve());
    });
  const proxy: TcpProxy = {
    get port() {
      return port;
    },
    acceptDelayMs: 0,
    cut: stop,
    restore: listen,
    close: stop,
  };
  await listen();
  return proxy;
}
