import { createServer, type RequestListener, type Server } from 'node:http';

/** An HTTP server listening on `host:port` (port 0: any free port), once it is. */
export async function listen(handler: RequestListener, port: number, host: string): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
