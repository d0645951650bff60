"""Real-time styles: a feed-forward network trained once per painting with the project's own
objective (Johnson, Alahi & Fei-Fei 2016), then applied to any photo, folder or video in one pass."""
