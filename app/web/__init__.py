"""The web layer: FastAPI routes, websocket sessions, frame schemas and the views that build them."""
