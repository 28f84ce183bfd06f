// The Compare view's websocket to /ws/compare: one request at a time. Frames (progress, result,
// error) go to `onFrame`; a connection lost during a run is reported once.

import { OnDemandSocket } from "../on-demand-socket.js";

export class CompareSocket extends OnDemandSocket {
  constructor(url, { onFrame, onLost }) {
    super(url, {
      name: "compare",
      onFrame: (frame) => {
        if (frame.type === "result" || frame.type === "error") this.busy = false;
        onFrame(frame);
      },
      onLost,
    });
  }

  request(message) {
    this.busy = true;
    this.send(message);
  }
}
