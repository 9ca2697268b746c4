import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A port on 127.0.0.1 with nothing listening (bound, then closed): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
