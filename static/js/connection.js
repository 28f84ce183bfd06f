// A websocket to /ws/game that reconnects with exponential backoff (0.5 s doubling to 10 s, with
// jitter), and a watchdog: while the game runs the server sends frames many times a second, so
// an open connection that has been silent for `watchdogMs` (4 s) is closed and made again (a
// paused game sends nothing: no watchdog then).
//
// For tests: `muted = true` drops every incoming frame (the server seems silent) until the next
// connect; `watchdogMs` may be lowered.

const WATCHDOG_MS = 4000;
const CHECK_MS = 250;

export class GameConnection {
  // `url`: a string, or a function giving one at each connect (e.g. with the saved session).
  // `expectFrames()`: whether the game is running, so that silence means trouble.
  constructor(url, { onMessage, onStatus, expectFrames = () => false }) {
    this.url = url;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.expectFrames = expectFrames;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.everOpened = false;
    this.watchdogMs = WATCHDOG_MS;
    this.muted = false;
    this.lastFrameAt = 0;
    this.lastCheckAt = 0;
    this.watchdog = null;
    this.restarts = 0; // connections closed by the watchdog (or a resync)
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.muted = false;
    this.onStatus({ state: "connecting", attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(typeof this.url === "function" ? this.url() : this.url);
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.everOpened = true;
      this.startWatchdog();
      this.onStatus({ state: "open" });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || this.muted) return;
      this.lastFrameAt = performance.now();
      // A server that answers (not one that accepts and drops us) resets the backoff.
      this.attempt = 0;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        console.warn("tycoon: a frame that is not JSON", err);
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopWatchdog();
      this.scheduleReconnect();
    };
    // onerror is always followed by onclose, which handles the reconnect.
    ws.onerror = () => {};
  }

  // Close the connection now and make a new one (after the backoff): the server went silent,
  // or a frame did not follow the one before it.
  restart(reason = "restart") {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.stopWatchdog();
    this.restarts += 1;
    try {
      ws.close(4000, reason);
    } catch (err) {
      // already closing
    }
    this.scheduleReconnect(reason);
  }

  scheduleReconnect(reason = "closed") {
    clearTimeout(this.timer);
    const base = Math.min(10000, 500 * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    this.attempt += 1;
    const retryAt = Date.now() + delay;
    this.onStatus({ state: "closed", attempt: this.attempt, retryAt, reason });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  startWatchdog() {
    this.stopWatchdog();
    this.lastFrameAt = this.lastCheckAt = performance.now();
    this.watchdog = setInterval(() => this.check(), CHECK_MS);
  }

  stopWatchdog() {
    clearInterval(this.watchdog);
    this.watchdog = null;
  }

  check() {
    const now = performance.now();
    const late = now - this.lastCheckAt;
    this.lastCheckAt = now;
    // Silence counts only while frames are due; a page that was frozen (a long task, a
    // throttled background tab) has not heard the frames queued meanwhile yet: wait for them.
    if (!this.open || !this.expectFrames()) {
      this.lastFrameAt = now;
    } else if (late > this.watchdogMs / 2) {
      this.lastFrameAt = Math.max(this.lastFrameAt, now - CHECK_MS);
    } else if (now - this.lastFrameAt > this.watchdogMs) {
      this.restart("silent");
    }
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  send(command) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(command));
    return true;
  }
}
