// libbar
