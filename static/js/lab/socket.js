// The lab's websocket to /ws/lab: opened on demand and kept for the page's life (a run belongs
// to its connection: closing it cancels the run). Frames go to `onFrame`; a connection lost
// while something was going on is reported once through `onLost`.

export class LabSocket {
  constructor(url, { onFrame, onLost }) {
    this.url = url;
    this.onFrame = onFrame;
    this.onLost = onLost;
    this.ws = null;
    this.busy = false; // a run or a deployment is under way: losing the socket matters
  }

  send(message) {
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
      this.onLost();
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws.send(text);
    ws.onmessage = (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (err) {
        console.warn("lab: a frame that is not JSON", err);
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.busy) {
        this.busy = false;
        this.onLost();
      }
    };
    ws.onerror = () => {}; // always followed by onclose
  }
}
