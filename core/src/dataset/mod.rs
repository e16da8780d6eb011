//! Dataset files: sktime/aeon `.ts`, UCR label-first text, `.arff`.
