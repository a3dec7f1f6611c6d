"""Small, readable PyTorch models shared by the studies."""
