// The saved game's session id, kept in localStorage (key `tycoon.session`) so that a reload or
// a reconnect resumes the same game (docs/protocol.md, "Connecting and resuming").

export const SESSION_KEY = "tycoon.session";
const VALID = /^[A-Za-z0-9_-]{16,64}$/;

export function savedSession() {
  try {
    const id = localStorage.getItem(SESSION_KEY);
    return id && VALID.test(id) ? id : null;
  } catch (err) {
    return null; // storage blocked: every connection is a new game
  }
}

export function saveSession(id) {
  if (!id || !VALID.test(id)) return;
  try {
    if (localStorage.getItem(SESSION_KEY) !== id) localStorage.setItem(SESSION_KEY, id);
  } catch (err) {
    // storage blocked or full: the game goes on, unsaved across reloads
  }
}

// The game's websocket address, with the saved session when there is one.
export function gameUrl(base) {
  const id = savedSession();
  return id ? `${base}?session=${encodeURIComponent(id)}` : base;
}
