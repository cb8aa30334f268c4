/**
 * PROTOTYPE (issue 11): the worker's global scope, typed (the project type-checks with Deno's
 * window types, which have no worker onmessage).
 */
export const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

/** Posts `message` to the thread that started this worker. */
export function post(message: unknown): void {
  scope.postMessage(message);
}
