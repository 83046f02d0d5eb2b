"""Training and leave-one-set-out evaluation of the scanner on the labeled sets in ../shared/corpus."""
