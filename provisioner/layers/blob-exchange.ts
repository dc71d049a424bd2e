/**
 * Who sends which blob to whom, while the hosts of one delivery run in parallel: the controller
 * sends a blob to the first host that needs it and nobody holds; every other host that needs it
 * waits for that transfer and then fetches it from that host (or any host holding it) over the
 * hosts' own network. So each blob crosses the controller's link once per delivery, however many
 * hosts there are. A host that cannot serve (no private address, no server) still gets blobs, from
 * a peer or from the controller; a peer that fails is dropped for that blob and the next source is
 * tried. No I/O here: the hosts' transfers report back through {@link BlobExchange}'s methods.
 */

/** Where a host gets one blob. */
export type BlobSource =
  | {
      from: "controller";
      /** Report the transfer's outcome: on success the host becomes a holder (when it serves). */
      settle(ok: boolean): void;
    }
  | { from: "peer"; peer: string; address: string };

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The blob exchange of one delivery to a set of hosts. */
export class BlobExchange {
  readonly #hosts: ReadonlySet<string>;
  /** Hosts whose blob server is up, and its address. */
  readonly #serving = new Map<string, string>();
  /** digest -> hosts that hold it and serve it. */
  readonly #holders = new Map<string, Set<string>>();
  /** digest -> the controller's transfer in flight. */
  readonly #claims = new Map<string, Promise<boolean>>();
  /** Fetches in flight per serving host, to spread peers' load. */
  readonly #load = new Map<string, number>();
  readonly #done = new Set<string>();
  readonly #allDone = deferred<void>();
  /** Hosts that probed their store, and whether they need any blob. */
  readonly #needs = new Map<string, boolean>();
  readonly #allProbed = deferred<boolean>();
  /** What a host waits for before its first question: lenders registering their stores. */
  #ready: Promise<unknown> = Promise.resolve();

  /** `hosts`: every host of this delivery, by name. */
  constructor(hosts: readonly string[]) {
    this.#hosts = new Set(hosts);
    if (this.#hosts.size === 0) {
      this.#allDone.resolve();
      this.#allProbed.resolve(false);
    }
  }

  /** `host` probed its store: `needs` when it lacks the image and at least one blob. */
  probed(host: string, needs: boolean): void {
    this.#needs.set(host, needs);
    this.#checkProbed();
  }

  /**
   * Resolves once every host has probed its store (or is done): whether any of them needs a blob.
   * A host that has the image serves its store only then, and only when someone needs it: a re-run
   * of an in-sync fleet starts no server at all.
   */
  anyoneNeeds(): Promise<boolean> {
    return this.#allProbed.promise;
  }

  #checkProbed(): void {
    if ([...this.#hosts].every((h) => this.#needs.has(h) || this.#done.has(h))) this.#allProbed.resolve([...this.#needs.values()].some(Boolean));
  }

  /** More than one host: peers can help each other (else nobody needs a server). */
  get shared(): boolean {
    return this.#hosts.size > 1;
  }

  /**
   * Hosts ask nothing before `registered` settles (lenders outside the delivery registering their
   * stores), so that a blob a lender holds is never sent by the controller instead.
   */
  whenReady(registered: Promise<unknown>): void {
    const before = this.#ready;
    this.#ready = Promise.all([before, registered.catch(() => undefined)]);
  }

  /** `host` serves its blob store at `address`. */
  serving(host: string, address: string): void {
    this.#serving.set(host, address);
  }

  /** `host` holds these blobs already (served only when it is {@link serving}). */
  holds(host: string, digests: Iterable<string>): void {
    if (!this.#serving.has(host)) return;
    for (const d of digests) this.#holdersOf(d).add(host);
  }

  #holdersOf(digest: string): Set<string> {
    let set = this.#holders.get(digest);
    if (!set) this.#holders.set(digest, (set = new Set()));
    return set;
  }

  /**
   * Where `host` gets `digest`: a serving peer that holds it (the least busy), else the
   * controller's transfer in flight to another host is awaited and asked again, else the
   * controller (the caller must then {@link BlobSource} `settle` it).
   */
  async sourceFor(host: string, digest: string): Promise<BlobSource> {
    await this.#ready;
    for (;;) {
      const peers = [...(this.#holders.get(digest) ?? [])].filter((h) => h !== host && this.#serving.has(h));
      if (peers.length > 0) {
        const peer = peers.reduce((a, b) => ((this.#load.get(b) ?? 0) < (this.#load.get(a) ?? 0) ? b : a));
        return { from: "peer", peer, address: this.#serving.get(peer)! };
      }
      const claim = this.#claims.get(digest);
      if (claim) {
        await claim;
        continue;
      }
      const d = deferred<boolean>();
      this.#claims.set(digest, d.promise);
      let settled = false;
      return {
        from: "controller",
        settle: (ok) => {
          if (settled) return;
          settled = true;
          if (ok) this.holds(host, [digest]);
          this.#claims.delete(digest);
          d.resolve(ok);
        },
      };
    }
  }

  /** A fetch from `peer` starts (`+1`) or ends (`-1`). */
  peerLoad(peer: string, delta: 1 | -1): void {
    this.#load.set(peer, (this.#load.get(peer) ?? 0) + delta);
  }

  /** `peer` could not give `digest` (down, or a blob that failed its digest): never ask it again. */
  peerFailed(peer: string, digest: string): void {
    this.#holders.get(digest)?.delete(peer);
  }

  /** `host` needs nothing more (done, failed, or never started). Idempotent. */
  done(host: string): void {
    this.#done.add(host);
    if ([...this.#hosts].every((h) => this.#done.has(h))) this.#allDone.resolve();
    this.#checkProbed();
  }

  /** Resolves once every host is {@link done}: servers may stop then. */
  allDone(): Promise<void> {
    return this.#allDone.promise;
  }
}
