"""Agent: LLM research agents that work on record branches in the work repository."""
