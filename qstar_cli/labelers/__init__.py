"""Q-label construction: step trees, the label formulas, and the rollout / completion / FQI labelers."""
