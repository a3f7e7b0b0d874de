import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startService, type RunningService } from '../service/service.js';
import { StartAborted } from '../start-abort.js';

/** `rollgate serve`: runs the service until SIGINT or SIGTERM; SIGHUP reads the policy again. */
export async function serveCommand(): Promise<number> {
  // the handlers come before anything async, so a stop asked for while starting is a clean stop too
  const stop = new AbortController();
  const stopNow = () => stop.abort();
  process.once('SIGINT', stopNow);
  process.once('SIGTERM', stopNow);
  const config = loadConfig();
  const logger = createLogger(config.logLevel, config.logFormat);
  let service: RunningService | undefined;
  // SIGHUP reads the policy files again (the default action would end the process)
  const reload = () => {
    if (service) void service.reloadPolicy();
    else logger.warn('SIGHUP while starting: the policy being loaded is the one on disk now');
  };
  process.on('SIGHUP', reload);
  try {
    service = await startService(config, logger, { signal: stop.signal });
  } catch (err) {
    if (!(err instanceof StartAborted)) throw err;
    logger.info('stopped during start');
    return 0;
  }
  if (stop.signal.aborted) {
    // the signal came as the last stage finished: stop what has just started
    await service.stop();
    logger.info('stopped during start');
    return 0;
  }
  if (!config.gerritSsh || !config.gerritRest) {
    process.stderr.write(
      `rollgate is running at ${service.url} on ${config.databaseUrl ? 'PostgreSQL' : `the embedded database in ${config.dataDir}`}.\n` +
        `To reach a Gerrit, set GERRIT_URL, GERRIT_HTTP_USER, GERRIT_HTTP_PASSWORD_FILE (REST) and\n` +
        `GERRIT_SSH_HOST, GERRIT_SSH_USER, GERRIT_SSH_KEY_FILE, GERRIT_SSH_HOST_KEY (stream-events); see docs/configuration.md.\n`,
    );
  }
  await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
  await service.stop();
  process.off('SIGHUP', reload);
  return 0;
}
