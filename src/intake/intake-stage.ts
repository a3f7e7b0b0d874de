import type { GerritSshConfig } from '../config.js';
import type { DatabaseHandle } from '../db/database.js';
import type { GerritClient } from '../gerrit/gerrit-client.js';
import { StreamListener, type StreamListenerOptions } from '../gerrit/stream-listener.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventStore } from '../rollouts/event-store.js';
import { Backfill } from './backfill.js';
import { CheckpointStore } from '../rollouts/checkpoint-store.js';
import { Intake } from './intake.js';
import { StallWatchdog } from './stall-watchdog.js';
import { StreamLeader } from './stream-leader.js';

export interface IntakeStageOptions {
  readonly database: DatabaseHandle;
  readonly events: EventStore;
  /** Without REST there is no back-fill and no stall watchdog: lines are only stored. */
  readonly gerrit: GerritClient | undefined;
  /** Without SSH there is no stream: webhooks and the back-fill are the intake. */
  readonly ssh: GerritSshConfig | undefined;
  /** The stream-events types to subscribe to. */
  readonly eventTypes: readonly string[];
  readonly settleMs: number;
  readonly stallMs: number;
  /** The stream leader's lease (see StreamLeader): how often a follower tries, how long it lasts, how often it is renewed. */
  readonly leader: { readonly pollMs: number; readonly leaseMs: number; readonly renewMs: number };
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** A line was stored: wake the decide stage. */
  readonly onStored: () => void;
  readonly backfill?: { readonly marginMs?: number; readonly retryMs?: number } | undefined;
  readonly stream?: Pick<StreamListenerOptions, 'backoff' | 'random'> | undefined;
}

/**
 * The intake stage as the service runs it: every stream, webhook and back-fill line is stored
 * first (`intake`); the stream is held by one replica at a time (the leader), and every connect
 * back-fills over REST what merged while nobody listened; a stream that stays connected but
 * stops delivering while Gerrit shows newer merges is reconnected (the stall watchdog).
 */
export class IntakeStage {
  readonly intake: Intake;
  readonly backfill: Backfill | undefined;
  readonly #watchdog: StallWatchdog | undefined;
  readonly #leader: StreamLeader | undefined;
  #listener: StreamListener | undefined;

  constructor(o: IntakeStageOptions) {
    const { logger, metrics } = o;
    this.intake = new Intake({ store: o.events, logger, metrics, settleMs: o.settleMs, onStored: o.onStored, parallelWrites: o.database.singleConnection ? 1 : 4 });
    this.backfill = o.gerrit ? new Backfill({ gerrit: o.gerrit, intake: this.intake, checkpoints: new CheckpointStore(o.database.db), logger, metrics, ...o.backfill }) : undefined;
    const gerrit = o.gerrit;
    this.#watchdog =
      gerrit && o.ssh
        ? new StallWatchdog({
            stallMs: o.stallMs,
            gerrit,
            connected: () => this.#listener?.connected ?? false,
            onStall: (reason) => {
              this.backfill?.trigger(reason);
              this.#listener?.reconnect(reason);
            },
            logger,
          })
        : undefined;
    const ssh = o.ssh;
    if (!ssh) {
      logger.warn('Gerrit SSH is not configured (GERRIT_SSH_HOST, GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE, GERRIT_SSH_HOST_KEY): no stream-events intake');
      return;
    }
    const newListener = () =>
      new StreamListener({
        host: ssh.host,
        port: ssh.port,
        username: ssh.user,
        privateKey: ssh.privateKey,
        hostKeyFingerprints: ssh.hostKeyFingerprints,
        eventTypes: o.eventTypes,
        onLine: (line) => {
          // fencing: a replica whose lease ran out (it may have just woken from a stop) stores
          // nothing more from its stream; the new leader back-fills whatever this drops
          if (!this.#leader?.mayAct()) return;
          this.#watchdog?.lineArrived(line);
          this.intake.accept(line, 'stream');
        },
        onStatus: (status) => {
          logger.info({ stream: status }, 'gerrit stream status');
          metrics.streamConnected.set(status.state === 'connected' ? 1 : 0);
          // whatever merged while the stream was down is fetched over REST
          if (status.state === 'connected') {
            this.#watchdog?.connected();
            this.backfill?.trigger('stream connected');
          }
        },
        logger,
        ...o.stream,
      });
    // several replicas on one PostgreSQL: only the leader holds the stream
    this.#leader = new StreamLeader({
      database: o.database,
      logger,
      pollMs: o.leader.pollMs,
      leaseMs: o.leader.leaseMs,
      renewMs: o.leader.renewMs,
      onGain: (generation) => {
        metrics.streamLeader.set(1);
        this.#listener = newListener();
        this.#listener.start();
        // after a takeover, the gap since the last leader stopped listening is fetched at once,
        // even before (or without) the stream connecting; the first leader of a database, or the
        // one process on PGlite, back-fills when its stream connects, as ever
        if (generation > 1) this.backfill?.trigger('took over the stream lease');
      },
      onLose: async () => {
        metrics.streamLeader.set(0);
        const stopping = this.#listener;
        await stopping?.stop();
        if (this.#listener === stopping) this.#listener = undefined;
      },
    });
  }

  start(): void {
    this.#leader?.start();
    this.#watchdog?.start();
  }

  /** Whether the Gerrit stream-events session is up right now. */
  get streamConnected(): boolean {
    return this.#listener?.connected ?? false;
  }

  /** Whether this replica holds the Gerrit stream (always, on PGlite, once SSH is configured). */
  get isLeader(): boolean {
    return this.#leader?.isLeader ?? false;
  }

  /**
   * The scheduled sweep over REST that catches whatever every other path missed: on whichever
   * replica holds the stream's lease now, when there is a stream (the other replicas' sweeps
   * would only find duplicates). It follows the lease, so a hung leader does not stop it.
   */
  sweep(): void {
    if (!this.#leader || this.#leader.mayAct()) this.backfill?.trigger('scheduled sweep');
  }

  /** Lets the stream go, ends the back-fill, and stores the lines still queued. */
  async stop(): Promise<void> {
    await this.#watchdog?.stop();
    await this.#leader?.stop();
    await this.backfill?.stop();
    await this.intake.flush();
  }
}
