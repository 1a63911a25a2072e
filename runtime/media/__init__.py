"""dsm.runtime.media.

The media layer: 8 kHz mono int16 audio in 20 ms frames, playlists,
prompts, recording, tones, DTMF (in-band and RFC 4733) and G.711, all
sans-I/O and driven frame by frame by the call that owns them (see
``docs/media.md``).
"""
