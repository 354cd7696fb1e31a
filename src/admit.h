/* admit.h - under construction */
