"""Media work for review and post-production: ffprobe/ffmpeg, espeak-ng narration, subtitles, cards."""
