"""What every C-emitting engine shares: the model_info writer, C literals and
the activation-memory planner."""
