/* peer.h - under construction */
