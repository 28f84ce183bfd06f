// The Compare view's websocket to /ws/compare: opened on demand, one request at a time. Frames
// (progress, result, error) go to `onFrame`; a connection lost during a run is reported once.

export class CompareSocket {
  constructor(url, { onFrame, onLost }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onLost = onLost;
    this.ws = null;
    this.busy = false;
  }

  // Send a request, opening the socket first if it is not open.
  request(message) {
    this.busy = true;
    const text = JSON.stringify(message);
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(text);
      return;
    }
    if (this.ws && this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.addEventListener("open", () => this.ws.send(text), { once: true });
      return;
    }
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.lost();
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws.send(text);
    ws.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (err) {
        console.warn("compare: a frame that is not JSON", err);
        return;
      }
      if (frame.type === "result" || frame.type === "error") this.busy = false;
      this.onFrame(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.busy) this.lost();
    };
    ws.onerror = () => {}; // always followed by onclose
  }

  lost() {
    this.busy = false;
    this.onLost();
  }
}
