/* dp.h - under construction */
