/* rdv_store.h - under construction */
