/* rdv_store.c - under construction */
