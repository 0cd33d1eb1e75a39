"""daw-diffusion bridge: the light, torch-free side that reads and writes the user's files
(and, later, speaks OSC/MIDI and talks to the engine service)."""
