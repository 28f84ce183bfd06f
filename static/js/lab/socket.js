// The lab's websocket to /ws/lab: opened on demand and kept for the page's life (a run belongs
// to its connection: closing it cancels the run). `busy` is set by the lab while a run or a
// deployment is under way, so that losing the socket then is reported.

import { OnDemandSocket } from "../on-demand-socket.js";

export class LabSocket extends OnDemandSocket {
  constructor(url, { onFrame, onLost }) {
    super(url, { name: "lab", onFrame, onLost });
  }
}
