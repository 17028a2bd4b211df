/** An error after which the agent must not go on (e.g. data of another cluster). Exit code 1. */
export class FatalAgentError extends Error {
  override readonly name = 'FatalAgentError';
}
