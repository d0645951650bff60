"""Media: pictures and clips in and out (reading, resizing, atomic writing), optical flow and
colour spaces. The bottom of the package: it knows nothing of pairs, losses or runs."""
