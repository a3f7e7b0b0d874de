/** setTimeout's longest delay; longer waits are taken in pieces. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Waits `ms` or until `signal` aborts, whichever comes first; waits of any length (timers cap at ~24.8 days). */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until && !signal.aborted) await sleepPiece(Math.min(until - Date.now(), MAX_TIMER_MS), signal);
}

function sleepPiece(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
