/** How long a start stage still running at a stop signal may take to finish, so what it opened can be closed. */
const GRACE_MS = 5000;

/** A stop signal came while the service was starting; what the start had opened is closed. */
export class StartAborted extends Error {
  constructor() {
    super('stopped during start');
  }
}

/**
 * The stages of a start that may take long (opening the database, migrations) raced against a
 * stop signal. A stage still running when the signal comes gets a short grace to finish, so a
 * local database is never left half-created and what the stage opened can be closed; one that
 * does not finish in time (a database server that never answers) is abandoned. Then everything
 * opened so far is closed, newest first, each close bounded by the same grace, and the start
 * throws `StartAborted`.
 */
export class StartStages {
  readonly #signal: AbortSignal | undefined;
  readonly #closers: Array<() => Promise<void>> = [];

  constructor(signal: AbortSignal | undefined) {
    this.#signal = signal;
  }

  /**
   * Waits for `work` unless the signal comes first. `close` undoes what the stage opened; it runs
   * if the start is aborted at this or any later stage.
   */
  async run<T>(work: Promise<T>, close?: (opened: T) => Promise<void>): Promise<T> {
    const signal = this.#signal;
    if (signal?.aborted) {
      await this.#abandon(work, close);
      throw new StartAborted();
    }
    let outcome: T | typeof ABORTED;
    try {
      outcome = await untilAborted(work, signal);
    } catch (err) {
      await this.#closeAll();
      throw err;
    }
    if (outcome === ABORTED || signal?.aborted) {
      await this.#abandon(work, close);
      throw new StartAborted();
    }
    const opened = outcome;
    if (close) this.#closers.push(() => close(opened));
    return opened;
  }

  async #abandon<T>(work: Promise<T>, close: ((opened: T) => Promise<void>) | undefined): Promise<void> {
    const finished = await withinGrace(work.then((value) => ({ value }), () => undefined));
    if (finished && close) this.#closers.push(() => close(finished.value));
    await this.#closeAll();
  }

  async #closeAll(): Promise<void> {
    for (const close of this.#closers.splice(0).reverse()) await withinGrace(close().catch(() => undefined));
  }
}

const ABORTED = Symbol('aborted');

/** The value of `work`, or `ABORTED` if the signal comes first. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORTED> {
  if (!signal) return work;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
  }
}

/** The value of `work` if it settles within the grace, else undefined. */
async function withinGrace<T>(work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), GRACE_MS);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
