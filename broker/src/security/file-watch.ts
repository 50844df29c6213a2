import { type FSWatcher, readFileSync, statSync, watch } from "node:fs";
import { dirname } from "node:path";
import { createSecureContext, type SecureContext, type Server as TlsServer } from "node:tls";
import type { BasicAuthenticator } from "./authenticator.js";
import { type AclState, parseAcl } from "./authorization.js";
import { type JwtAlgorithm, type JwtAuthenticator, readJwtKeyFile } from "./jwt.js";
import { readUsersFile } from "./users-file.js";

// Material read from files that change under a running broker (cert-manager rotating certificates,
// an operator editing a users Secret). Kubernetes Secret volumes never rewrite a file in place: they
// write a new timestamped folder and swap the `..data` symlink the visible names point through. So we
// watch the folders (fs.watch sees the symlink swap) and also poll stat() of every path, following
// links, as a fallback for filesystems where fs.watch is silent.

export interface WatchOptions {
  /** Stat poll period. Default 1000 ms. */
  pollMs?: number;
  /** Also react to fs.watch events on the folders (faster than the poll). Default true. */
  useFsWatch?: boolean;
  /** Called after new material replaced the old. */
  onReload?: (paths: string[]) => void;
  /** Called when changed files could not be loaded; the previous material stays in use. */
  onError?: (err: Error, paths: string[]) => void;
}

/**
 * Holds what `load` made of some files and reloads it when any of them changes. The first load
 * happens in the constructor and throws (a broker must not start without its material); later
 * failures keep the last good material, as a half-rotated pair (new cert, old key) must not break
 * serving. Readers always see one whole value: the swap is a single assignment.
 */
export class WatchedFiles<T> {
  private value: T;
  private fingerprint: string;
  private readonly watchers: FSWatcher[] = [];
  private readonly poll: NodeJS.Timeout;
  private debounce: NodeJS.Timeout | undefined;
  /** A changed stamp seen once, loaded when the next check sees it unchanged. */
  private settling: string | undefined;
  private closed = false;

  constructor(
    readonly paths: string[],
    private readonly load: () => T,
    private readonly o: WatchOptions = {},
  ) {
    this.fingerprint = this.stamp();
    this.value = load();
    for (const dir of o.useFsWatch === false ? [] : new Set(paths.map((p) => dirname(p)))) {
      try {
        const w = watch(dir, { persistent: false }, () => this.changed());
        w.on("error", () => {}); // The folder may vanish during a swap; the poll still covers it.
        this.watchers.push(w);
      } catch {
        // fs.watch is unsupported here: polling alone.
      }
    }
    this.poll = setInterval(() => this.check(), o.pollMs ?? 1000);
    this.poll.unref();
  }

  current(): T {
    return this.value;
  }

  /**
   * Re-checks the files (what the watchers and the poll do). Changed files are loaded once their
   * stat has stayed the same for `settleMs`: a file written in place (truncate, then write, as
   * `writeFileSync`, an editor or `cat > file` do) is otherwise seen mid-write by the poll, empty or
   * cut short, and a cut-short ACL or users file can parse as a valid, smaller one (live-auth.test.ts
   * saw an empty ACL taken in, denying a user the full file granted). An empty file is never taken
   * in: the last good material stays, and onError says so.
   */
  check(): void {
    if (this.closed) return;
    const stamp = this.stamp();
    if (stamp === this.fingerprint) {
      this.settling = undefined;
      return;
    }
    if (stamp !== this.settling) {
      this.settling = stamp;
      this.recheckIn(settleMs);
      return;
    }
    this.settling = undefined;
    this.fingerprint = stamp;
    const empty = this.paths.filter((p) => sizeOf(p) === 0);
    if (empty.length > 0) {
      this.o.onError?.(
        new Error(
          `${empty.join(", ")} is empty (a write in progress, or an emptied file): keeping the last good one`,
        ),
        this.paths,
      );
      return;
    }
    try {
      this.value = this.load();
      this.o.onReload?.(this.paths);
    } catch (err) {
      this.o.onError?.(err as Error, this.paths);
    }
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
  }

  // Writers often produce several events per update (truncate, write, rename): settle first.
  private changed(): void {
    this.recheckIn(settleMs);
  }

  private recheckIn(ms: number): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check(), ms);
    this.debounce.unref();
  }

  private stamp(): string {
    return this.paths
      .map((p) => {
        try {
          const s = statSync(p); // follows symlinks: a `..data` swap changes the inode seen here
          return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
        } catch {
          return "missing";
        }
      })
      .join("|");
  }
}

/** How long a changed file's stat must stay the same before it is loaded. */
const settleMs = 50;

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

export interface TlsFilePaths {
  cert: string;
  key: string;
  /** CA bundle used to verify the other side (clients on the client port, peers on the peer port). */
  ca?: string;
  /**
   * A second CA bundle trusted next to `ca` (the client port also trusts the peer CA, so nodes can
   * forward calls with their peer certificates). Kept apart in `extraCa` as well.
   */
  extraCa?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** `ca` and `extraCa` together: what the other side is verified against. */
  ca?: Buffer;
  /** The `extraCa` bundle alone. */
  extraCa?: Buffer;
  context: SecureContext;
}

/**
 * TLS certificate, key and CA from files, reloaded when they change. Use `sniCallback` in the server
 * options, or `attach(server)` to call `server.setSecureContext()` on every reload; outgoing (peer)
 * connections take `current()` for each new connection.
 */
export class TlsFiles {
  private readonly files: WatchedFiles<TlsMaterial>;
  private readonly servers = new Set<TlsServer>();

  constructor(paths: TlsFilePaths, o: WatchOptions = {}) {
    const list = [
      paths.cert,
      paths.key,
      ...(paths.ca ? [paths.ca] : []),
      ...(paths.extraCa ? [paths.extraCa] : []),
    ];
    this.files = new WatchedFiles(list, () => loadTls(paths), {
      ...o,
      onReload: (changed) => {
        for (const s of this.servers) s.setSecureContext(this.serverOptions());
        o.onReload?.(changed);
      },
    });
  }

  current(): TlsMaterial {
    return this.files.current();
  }

  /** `{cert, key, ca}` for `tls.connect`, `http2.connect` or server options. */
  serverOptions(): { cert: Buffer; key: Buffer; ca?: Buffer } {
    const { cert, key, ca } = this.current();
    return ca ? { cert, key, ca } : { cert, key };
  }

  readonly sniCallback = (_servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void =>
    cb(null, this.current().context);

  attach(server: TlsServer): void {
    this.servers.add(server);
  }

  check(): void {
    this.files.check();
  }

  close(): void {
    this.files.close();
    this.servers.clear();
  }
}

function loadTls(paths: TlsFilePaths): TlsMaterial {
  const read = (what: string, p: string) => {
    try {
      return readFileSync(p);
    } catch (err) {
      throw new Error(`cannot read TLS ${what} ${p}: ${(err as Error).message}`);
    }
  };
  const cert = read("certificate", paths.cert);
  const key = read("key", paths.key);
  const ownCa = paths.ca ? read("CA", paths.ca) : undefined;
  const extraCa = paths.extraCa ? read("CA", paths.extraCa) : undefined;
  const ca = ownCa && extraCa ? Buffer.concat([ownCa, Buffer.from("\n"), extraCa]) : (ownCa ?? extraCa);
  try {
    // Also proves that the key belongs to the certificate: a half-written rotation fails here.
    const context = createSecureContext(ca ? { cert, key, ca } : { cert, key });
    return { cert, key, ...(ca ? { ca } : {}), ...(extraCa ? { extraCa } : {}), context };
  } catch (err) {
    throw new Error(`TLS material ${paths.cert} / ${paths.key} is unusable: ${(err as Error).message}`);
  }
}

/** The users file, pushed into the authenticator on every change (the first load happens at once). */
export function watchUsersFile(
  path: string,
  authenticator: Pick<BasicAuthenticator, "setUsers">,
  o: WatchOptions = {},
) {
  const files = new WatchedFiles([path], () => readUsersFile(path), {
    ...o,
    onReload: (paths) => {
      authenticator.setUsers(files.current());
      o.onReload?.(paths);
    },
  });
  authenticator.setUsers(files.current());
  return files;
}

/** The ACL file; `onChange` gets each new valid state (and the first one at once). */
export function watchAclFile(path: string, onChange: (state: AclState) => void, o: WatchOptions = {}) {
  const load = () => {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`cannot read ACL file ${path}: ${(err as Error).message}`);
    }
    return parseAcl(text, `ACL file ${path}`);
  };
  const files = new WatchedFiles([path], load, {
    ...o,
    onReload: (paths) => {
      onChange(files.current());
      o.onReload?.(paths);
    },
  });
  onChange(files.current());
  return files;
}

/** The JWT verification key, swapped into the authenticator on every change. */
export function watchJwtKey(
  algorithm: JwtAlgorithm,
  path: string,
  auth: JwtAuthenticator,
  o: WatchOptions = {},
) {
  const files = new WatchedFiles([path], () => readJwtKeyFile(algorithm, path), {
    ...o,
    onReload: (paths) => {
      auth.setKey(files.current());
      o.onReload?.(paths);
    },
  });
  auth.setKey(files.current());
  return files;
}
