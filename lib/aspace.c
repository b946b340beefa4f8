/* placeholder: being written */
typedef int physim_placeholder_aspace;
