"""Operations on a topology's topics, offsets and state, shared by the operator commands (replay, state, dlq)."""
