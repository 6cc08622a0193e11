"""Conversations: who talks when (voice activity, speaker embeddings, clustering into people) and
the assembly of one stem per person, the separator used only where people overlap."""
