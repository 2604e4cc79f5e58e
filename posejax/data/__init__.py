"""Dataset readers and the synthetic contact benchmark."""
