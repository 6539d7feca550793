// What the shared emulator code expects of Node that a Web Worker lacks.
// setImmediate (used by the v86 adapter to batch console bytes): a macrotask
// through a MessageChannel, which unlike setTimeout(0) is not clamped to 4 ms.
type Callback = () => void;
const scope = globalThis as unknown as { setImmediate?: (callback: Callback) => unknown };
if (typeof scope.setImmediate !== 'function') {
  const channel = new MessageChannel();
  const queue: Callback[] = [];
  channel.port1.onmessage = () => {
    const callback = queue.shift();
    callback?.();
  };
  scope.setImmediate = (callback: Callback) => {
    queue.push(callback);
    channel.port2.postMessage(0);
    return queue.length;
  };
}
