"""The Q-value model (QVM): input format, model, training, metrics; and the PRM adapter."""
