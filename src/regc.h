/* regc.h - under construction */
