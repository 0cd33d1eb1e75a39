"""Training: data preparation (MIDI corpus -> FluidSynth renders, or the user's recordings),
text conditioning, the two training stages, and evaluation."""
