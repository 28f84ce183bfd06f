// A websocket opened on demand and kept for the page's life, for the lab and the Compare view
// (the game's own connection, with acks and reconnects, is connection.js). Frames go to
// `onFrame`; a connection lost while `busy` (something under way) is reported once to `onLost`.

export class OnDemandSocket {
  constructor(url, { name, onFrame, onLost }) {
    this.url = url;
    this.name = name;
    this.onFrame = onFrame;
    this.onLost = onLost;
    this.ws = null;
    this.busy = false;
  }

  // Send a message, opening the socket first if it is not open.
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
        console.warn(`${this.name}: a frame that is not JSON`, err);
        return;
      }
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
