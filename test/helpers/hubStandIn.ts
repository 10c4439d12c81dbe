// A loopback stand-in for the Hugging Face Hub serving a fixture checkpoint: the API routes @huggingface/hub calls
// (model info with the commit, recursive tree with sizes and hashes), `resolve/` with a 302 to a CDN route for LFS
// files, ETags, Range requests, an optional gate (Bearer token) and a cut connection on demand.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

interface HubFile {
  readonly path: string;
  readonly data: Buffer;
  readonly lfs: boolean;
  readonly oid: string;
  readonly sha256: string;
}

export interface StandInOptions {
  /** Require `Authorization: Bearer <token>` everywhere. */
  readonly token?: string;
}

export interface HubRequest {
  readonly method: string;
  readonly url: string;
  readonly range?: string;
  readonly auth?: string;
}

const gitOid = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class HubStandIn {
  readonly requests: HubRequest[] = [];
  /** Cut the next download of this file after this many bytes (once). */
  cut: { file: string; after: number } | null = null;
  private readonly server: http.Server;
  private readonly revisions = new Map<string, { commit: string; files: HubFile[] }>();
  base = '';

  constructor(
    readonly repo: string,
    opts: StandInOptions = {},
  ) {
    this.server = http.createServer((req, res) => this.handle(req, res, opts));
  }

  /** Serve `dir`'s files (golden* excluded) under a revision name with a made-up commit; `edit` may change them. */
  addRevision(names: readonly string[], dir: string, edit: (files: Map<string, Buffer>) => void = () => {}): string {
    const files = new Map<string, Buffer>();
    for (const f of readdirSync(dir)) if (!f.startsWith('golden')) files.set(f, readFileSync(path.join(dir, f)));
    files.set('README.md', Buffer.from('# not downloaded\n'));
    edit(files);
    const list = [...files].map(([p, data]) => ({ path: p, data, lfs: p.endsWith('.safetensors'), oid: gitOid(data), sha256: createHash('sha256').update(data).digest('hex') }));
    const commit = createHash('sha1').update(list.map((f) => f.path + f.oid).join()).digest('hex');
    for (const n of [...names, commit]) this.revisions.set(n, { commit, files: list });
    return commit;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** GETs of file contents (resolve/ or the CDN), by file name. */
  downloads(): string[] {
    return this.requests.filter((r) => r.method === 'GET' && /\/(resolve|cdn)\//.test(r.url)).map((r) => decodeURIComponent(r.url.split('/').pop()!));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, opts: StandInOptions): void {
    const url = new URL(req.url!, 'http://x');
    this.requests.push({ method: req.method!, url: url.pathname, range: req.headers.range, auth: req.headers.authorization });
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const data = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length, ...headers });
      res.end(data);
    };
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return send(401, { error: 'Access to this model is restricted. You must have access to it and be authenticated.' });
    const repo = this.repo;
    let m = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/);
    if (m) {
      const rev = this.revisions.get(decodeURIComponent(m[2]));
      if (m[1] !== repo || !rev) return send(404, { error: 'Repository not found' });
      return send(200, { _id: 'x', id: repo, sha: rev.commit, private: false, gated: !!opts.token, siblings: rev.files.map((f) => ({ rfilename: f.path })) });
    }
    m = url.pathname.match(/^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/);
    if (m) {
      const rev = this.revisions.get(decodeURIComponent(m[2]));
      if (m[1] !== repo || !rev) return send(404, { error: 'Revision not found' });
      return send(200, rev.files.map((f) => ({ type: 'file', path: f.path, size: f.lfs ? 135 : f.data.length, oid: f.lfs ? gitOid(Buffer.from(`lfs pointer ${f.sha256}`)) : f.oid, ...(f.lfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: 135 } } : {}) })));
    }
    m = url.pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (m) {
      const rev = this.revisions.get(decodeURIComponent(m[2]));
      const f = rev?.files.find((x) => x.path === decodeURIComponent(m![3]));
      if (m[1] !== repo || !rev || !f) return send(404, { error: 'Entry not found' });
      // LFS files live on a CDN, as on the Hub.
      if (f.lfs) return send(302, '', { location: `${this.base}/cdn/${f.sha256}/${encodeURIComponent(f.path)}`, 'x-repo-commit': rev.commit, 'x-linked-etag': `"${f.sha256}"`, 'x-linked-size': String(f.data.length) });
      return this.serveFile(req, res, f, rev.commit);
    }
    m = url.pathname.match(/^\/cdn\/([0-9a-f]{64})\/(.+)$/);
    if (m) {
      const f = [...this.revisions.values()].flatMap((r) => r.files).find((x) => x.sha256 === m![1]);
      if (!f) return send(404, { error: 'no such blob' });
      return this.serveFile(req, res, f, '');
    }
    send(404, { error: `no route ${url.pathname}` });
  }

  private serveFile(req: http.IncomingMessage, res: http.ServerResponse, f: HubFile, commit: string): void {
    const etag = `"${f.lfs ? f.sha256 : f.oid}"`;
    let start = 0;
    const r = req.headers.range?.match(/^bytes=(\d+)-$/);
    if (r) {
      start = Number(r[1]);
      if (start >= f.data.length) {
        res.writeHead(416, { 'content-range': `bytes */${f.data.length}` });
        return void res.end();
      }
    }
    const body = f.data.subarray(start);
    res.writeHead(r ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      etag,
      'accept-ranges': 'bytes',
      ...(commit ? { 'x-repo-commit': commit } : {}),
      ...(r ? { 'content-range': `bytes ${start}-${f.data.length - 1}/${f.data.length}` } : {}),
    });
    if (this.cut && this.cut.file === f.path) {
      // Send part of the body, then close the connection mid-transfer (a FIN, so the client reads what was sent).
      const after = this.cut.after;
      this.cut = null;
      res.write(body.subarray(0, after), () => res.socket?.end());
      return;
    }
    res.end(body);
  }
}
