/**
 * A TCP proxy on loopback that a test can cut and restore, to take PostgreSQL (or anything else) away
 * from the engine without stopping the server that other test files share. While cut, existing
 * connections are reset and new ones refused — what a client sees when the server is stopped.
 */
import net from 'node:net';
import { Transform } from 'node:stream';

export interface TcpProxy {
  port: number;
  /** Holds each new connection this long before it reaches the target: a server slow to accept. */
  acceptDelayMs: number;
  /**
   * Sees what clients send, chunk by chunk: `connection` counts the connections accepted (from 0),
   * `chunk` the chunks on that connection (from 0). Returning true cuts the proxy right there, before
   * the chunk reaches the target: the server goes away with that request unanswered.
   */
  tripwire: ((data: Buffer, at: { connection: number; chunk: number }) => boolean) | undefined;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let port = 0;
  let accepted = 0;
  let server: net.Server;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = net.createServer((client) => {
        sockets.add(client);
        const connection = accepted++;
        const connect = () => {
          if (client.destroyed) return;
          const upstream = net.connect(targetPort, targetHost);
          sockets.add(upstream);
          let chunk = 0;
          const watched = new Transform({
            transform(data: Buffer, _encoding, callback) {
              if (proxy.tripwire?.(data, { connection, chunk: chunk++ })) {
                void stop();
                return callback();
              }
              callback(null, data);
            },
          });
          client.pipe(watched).pipe(upstream).pipe(client);
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
    tripwire: undefined,
    cut: stop,
    restore: listen,
    close: stop,
  };
  await listen();
  return proxy;
}
